"""Build hook for the one C extension: the remote-write decoder (tsdb/_native).

Everything else is declared in pyproject.toml. The decoder is C because decoding
protobuf per sample in Python caps ingest at ~170k samples/s (DESIGN §8).
"""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "tsdb._native._rwdecode",
            sources=["tsdb/_native/rwdecode.c"],
            extra_compile_args=["-O3", "-std=c11"],
        )
    ]
)
