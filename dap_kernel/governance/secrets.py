"""Credentials encrypted at rest with Fernet; MultiFernet makes key rotation possible.

The key comes from ``DAP_SECRET_KEY`` (comma-separated, newest first, so an operator rotates by
prepending) or from ``DAP_HOME/secrets.key`` (created with mode 0600, one key per line, newest
first). Plain values never leave this module except through :meth:`SecretStore.get`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select

from ..errors import DapError
from ..meta import MetaStore
from ..meta.models import Secret


class SecretError(DapError):
    code = "secret_error"
    http_status = 500


class SecretStore:
    def __init__(self, meta: MetaStore, key_file: Path, env_keys: str = "") -> None:
        self.meta = meta
        self.key_file = key_file
        self.env_keys = env_keys

    # -- keys -------------------------------------------------------------------------------

    def _keys(self) -> list[bytes]:
        if self.env_keys:
            return [k.strip().encode() for k in self.env_keys.split(",") if k.strip()]
        if not self.key_file.exists():
            self._write_keys([Fernet.generate_key()])
        mode = self.key_file.stat().st_mode & 0o777
        if mode & 0o077:
            raise SecretError(
                f"{self.key_file} is readable by others (mode {mode:o}); run chmod 600 on it"
            )
        return [line.strip().encode() for line in self.key_file.read_text().splitlines() if line]

    def _write_keys(self, keys: list[bytes]) -> None:
        self.key_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.key_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(k.decode() for k in keys) + "\n")
        os.replace(tmp, self.key_file)

    def _fernet(self) -> MultiFernet:
        try:
            return MultiFernet([Fernet(k) for k in self._keys()])
        except ValueError as e:
            raise SecretError(
                "the secret key is malformed: expected url-safe base64 Fernet keys "
                "(DAP_SECRET_KEY or secrets.key)"
            ) from e

    def cipher(self) -> MultiFernet:
        """The same keys for other data kept encrypted at rest (the service's shared results):
        one key file to guard and to rotate. Creates the key on first use."""
        return self._fernet()

    # -- secrets ----------------------------------------------------------------------------

    def put(self, name: str, value: str) -> None:
        token = self._fernet().encrypt(value.encode()).decode()
        with self.meta.session() as s:
            row = s.execute(select(Secret).where(Secret.name == name)).scalar_one_or_none()
            if row is None:
                s.add(Secret(name=name, ciphertext=token))
            else:
                row.ciphertext = token

    def add(self, name: str, value: str) -> None:
        """Store a new secret; an existing one of that name is never replaced (the database's
        unique name refuses it), so two processes creating the same secret keep one."""
        token = self._fernet().encrypt(value.encode()).decode()
        with self.meta.session() as s:
            s.add(Secret(name=name, ciphertext=token))

    def get(self, name: str) -> str:
        with self.meta.session() as s:
            row = s.execute(select(Secret).where(Secret.name == name)).scalar_one_or_none()
            if row is None:
                raise SecretError(f"secret {name!r} does not exist")
            token = row.ciphertext
        try:
            return self._fernet().decrypt(token.encode()).decode()
        except InvalidToken as e:
            raise SecretError(
                f"cannot decrypt secret {name!r}: the key does not match "
                "(was DAP_SECRET_KEY or secrets.key changed?)"
            ) from e

    def delete(self, name: str) -> None:
        with self.meta.session() as s:
            row = s.execute(select(Secret).where(Secret.name == name)).scalar_one_or_none()
            if row is not None:
                s.delete(row)

    def names(self) -> list[str]:
        with self.meta.session() as s:
            return sorted(s.execute(select(Secret.name)).scalars())

    def rotate(self) -> int:
        """Add a new primary key and re-encrypt every secret with it; returns how many."""
        if self.env_keys and "," not in self.env_keys:
            raise SecretError(
                "keys come from DAP_SECRET_KEY: prepend a new key (DAP_SECRET_KEY=NEW,OLD), "
                "then run `dap secrets rotate` to re-encrypt with it"
            )
        old_keys = self._keys()
        keys = old_keys if self.env_keys else [Fernet.generate_key(), *old_keys]
        fernet = MultiFernet([Fernet(k) for k in keys])
        with self.meta.session() as s:
            rows = list(s.execute(select(Secret)).scalars())
            for row in rows:
                try:
                    row.ciphertext = fernet.rotate(row.ciphertext.encode()).decode()
                except InvalidToken as e:
                    raise SecretError(f"cannot decrypt secret {row.name!r} to rotate it") from e
                row.rotated_at = datetime.now(UTC)
            if not self.env_keys:
                self._write_keys(keys)  # inside the transaction: both land or neither
        return len(rows)
