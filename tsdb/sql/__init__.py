"""SQL over a tenant's data (the contract in `contract.py`), and what may be run (`guard.py`)."""
