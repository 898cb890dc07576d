"""The argument parser every ``%dap`` command uses: a mistake is a one-line ``UsageError``."""

from __future__ import annotations

import argparse
from typing import NoReturn

from IPython.core.error import UsageError


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would sys.exit()
        raise UsageError(f"{self.prog}: {message}")
