"""Native (C) helpers; see the sources next to this file for why each exists."""
