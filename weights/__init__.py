"""The official EERN checkpoint, installed with the package as ``eern_cli._bundled``."""
