"""Package list for setuptools.

Our rule packs live at the top of the repository (``schematrons/``, as the house style
lays out) and install as the data package ``cdacheck.schematrons``; pyproject.toml alone
cannot combine package discovery with that one mapping.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["cdacheck", "cdacheck.*"]), "cdacheck.schematrons"],
    py_modules=["cdacheck_entry"],  # the console script (Ctrl-C during the imports: exit 130)
    package_dir={"cdacheck.schematrons": "schematrons"},
)
