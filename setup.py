"""Build of gateway and its compiled core.

Each gateway/_core/*.pyx is one extension module. GATEWAY_CYTHON_DEBUG=1 turns bounds checks back
on and writes Cython's annotated HTML next to each module (the asyncpg ASYNCPG_DEBUG switch).
"""

import os
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup

DEBUG = os.environ.get("GATEWAY_CYTHON_DEBUG") == "1"
CORE = Path("gateway/_core")

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

extensions = [
    Extension(
        f"gateway._core.{pyx.stem}",
        [str(pyx)],
        include_dirs=[str(CORE)],
        extra_compile_args=["-O0", "-g"] if DEBUG else ["-O2"],
    )
    for pyx in sorted(CORE.glob("*.pyx"))
]

setup(
    name="gateway",
    version="0.1.0",
    description="High-throughput SMPP 3.4 SMS gateway daemon",
    python_requires=">=3.11",
    packages=find_packages(include=["gateway", "gateway.*"]),
    package_data={"gateway._core": ["*.pyi", "py.typed"]},
    ext_modules=cythonize(extensions, compiler_directives=directives, annotate=DEBUG),
    entry_points={"console_scripts": ["gateway = gateway.__main__:main"]},
    zip_safe=False,
)
