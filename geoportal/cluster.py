"""The project's own embedded PostgreSQL + PostGIS cluster.

It lives in ``<home>/pg`` (``home`` defaults to ``./.geoportal``), listens only on
127.0.0.1 at its own port and never touches the system cluster. ``initdb`` and
``postgres`` refuse to run as root, so when we are root the server runs as the
unprivileged ``postgres`` OS user; if that user cannot reach ``<home>`` (a clone
under ``/root``, which is 0700), the data folder moves to ``/var/lib/geoportal/<id>``.

Passwords are generated once and kept in ``<home>/secretos.json`` (mode 0600).

The port is 54329 unless ``GEOPORTAL_PG_PORT`` says otherwise. A second checkout on the
same machine finds that port taken by the first one's cluster: without
``GEOPORTAL_PG_PORT`` it moves to the next free port and remembers it in
``<home>/puerto_pg``; with it, it stops with a Spanish message naming a free port.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "geoportal"
PUBLIC_ROLE = "geoportal_publico"
DATABASE = "geoportal"

# Tuned for bulk loads on a 2-core, 24 GiB machine; a dev cluster, so commits need not wait.
# Spelled out, never inherited from the machine: ORDER BY on text (ids, codes, names) is
# then byte order on every machine and every glibc version, so lists, pages and tests
# come out the same everywhere. C.UTF-8 for character classes (upper/lower of "ñ").
INITDB_LOCALE = ("--locale=C.UTF-8", "--lc-collate=C")
SERVER_OPTIONS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "shared_buffers": "1GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "1GB",
    "max_wal_size": "8GB",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "synchronous_commit": "off",
    "jit": "off",
}


class ClusterError(RuntimeError):
    """Raised with a Spanish message a user can act on."""


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        # SO_REUSEADDR, as PostgreSQL itself binds: connections of a just-stopped server
        # linger in TIME_WAIT for a minute and must not make its own port look taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def next_free_port(port: int) -> int:
    for candidate in range(port + 1, min(port + 200, 65536)):
        if not port_in_use(candidate):
            return candidate
    raise ClusterError(f"No hay puertos libres en 127.0.0.1 entre {port + 1} y {port + 199}.")


def read_secrets(path: Path) -> dict[str, str]:
    return json.loads(path.read_text()) if path.exists() else {}


def write_secrets(path: Path, values: dict[str, str]) -> None:
    """Replace the secrets file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(values, fh, indent=1)
    os.replace(temporary, path)


def pg_bindir() -> Path:
    """Newest installed PostgreSQL whose PostGIS extension is present."""
    candidates = []
    for bindir in Path("/usr/lib/postgresql").glob("*/bin"):
        version = bindir.parent.name
        if (Path("/usr/share/postgresql") / version / "extension" / "postgis.control").exists():
            candidates.append((float(version), bindir))
    if not candidates:
        raise ClusterError(
            "No se encontró PostgreSQL con PostGIS. Ejecute `make setup` "
            "(instala postgresql-15 y postgresql-15-postgis-3) o defina GEOPORTAL_DATABASE_URL."
        )
    return max(candidates)[1]


@dataclass
class Cluster:
    home: Path
    port: int
    # False when the port is only the default: then a remembered or a free port may replace it.
    port_fixed: bool = True

    def __post_init__(self) -> None:
        self.home = Path(self.home).resolve()
        if not self.port_fixed and self.port_file.exists():
            self.port = int(self.port_file.read_text().strip())

    @property
    def port_file(self) -> Path:
        return self.home / "puerto_pg"

    # -- where things live -------------------------------------------------------------
    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    @property
    def os_user(self) -> str:
        return "postgres" if self.as_root else pwd.getpwuid(os.geteuid()).pw_name

    @property
    def data_dir(self) -> Path:
        inside = self.home / "pg"
        if not self.as_root or self._reachable_by_os_user(self.home):
            return inside
        digest = hashlib.sha1(str(self.home).encode()).hexdigest()[:12]
        return Path("/var/lib/geoportal") / digest / "pg"

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / "postgres.log"

    @property
    def secrets_file(self) -> Path:
        return self.home / "secretos.json"

    def _reachable_by_os_user(self, path: Path) -> bool:
        path.mkdir(parents=True, exist_ok=True)
        probe = subprocess.run(
            ["runuser", "-u", self.os_user, "--", "test", "-x", str(path)], capture_output=True, check=False
        )
        return probe.returncode == 0

    # -- commands ----------------------------------------------------------------------
    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
        if self.as_root:
            args = ["runuser", "-u", self.os_user, "--", *args]
        result = subprocess.run(args, capture_output=True, text=True, check=False)  # the caller decides
        if check and result.returncode != 0:
            raise ClusterError(
                f"Falló `{' '.join(args[-3:])}`: {result.stderr.strip() or result.stdout.strip()}"
                f" (registro del servidor: {self.log_file})"
            )
        return result

    def secrets(self) -> dict[str, str]:
        values = read_secrets(self.secrets_file)
        if SUPERUSER not in values or PUBLIC_ROLE not in values:
            values = {SUPERUSER: secrets.token_urlsafe(18), PUBLIC_ROLE: secrets.token_urlsafe(18), **values}
            write_secrets(self.secrets_file, values)
        return values

    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialized():
            return False
        bindir = pg_bindir()
        return self._run([str(bindir / "pg_ctl"), "-D", str(self.data_dir), "status"], check=False).returncode == 0

    def init(self) -> None:
        if self.initialized():
            return
        bindir = pg_bindir()
        data = self.data_dir
        data.parent.mkdir(parents=True, exist_ok=True)
        data.mkdir(mode=0o700, exist_ok=True)
        pwfile = data.parent / ".pwfile"
        pwfile.write_text(self.secrets()[SUPERUSER] + "\n")
        if self.as_root:
            shutil.chown(data.parent, self.os_user)
            shutil.chown(data, self.os_user)
            shutil.chown(pwfile, self.os_user)
        os.chmod(pwfile, 0o600)
        try:
            self._run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    *INITDB_LOCALE,
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with open(data / "postgresql.conf", "a") as conf:
            conf.write("\n# geoportal\n")
            conf.writelines(f"{key} = '{value}'\n" for key, value in {**SERVER_OPTIONS, "port": str(self.port)}.items())

    def running_port(self) -> int | None:
        """Port of the running server (line 4 of postmaster.pid), None when stopped."""
        if not self.running():
            return None
        try:
            return int((self.data_dir / "postmaster.pid").read_text().splitlines()[3])
        except (OSError, IndexError, ValueError):
            return self.port

    def _choose_port(self) -> None:
        """Keep the port if free; else move to the next free one, unless it was fixed."""
        if port_in_use(self.port):
            free = next_free_port(self.port)
            if self.port_fixed:
                raise ClusterError(
                    f"El puerto {self.port} de 127.0.0.1 ya está en uso por otro programa (¿otra copia del "
                    f"geoportal en esta máquina?). Elija otro con GEOPORTAL_PG_PORT (p. ej. "
                    f"GEOPORTAL_PG_PORT={free}, libre ahora), o quite GEOPORTAL_PG_PORT para que el "
                    f"geoportal use el siguiente puerto libre y lo recuerde en {self.port_file}."
                )
            print(
                f"Aviso: el puerto {self.port} de 127.0.0.1 está ocupado (¿otra copia del geoportal en esta "
                f"máquina?); el clúster de esta copia usará el puerto {free}, guardado en {self.port_file}. "
                "Para elegir otro, defina GEOPORTAL_PG_PORT.",
                file=sys.stderr,
            )
            self.port = free
        if not self.port_fixed:
            self.home.mkdir(parents=True, exist_ok=True)
            self.port_file.write_text(f"{self.port}\n")

    # -- a data folder left by an earlier copy at the same path --------------------------
    @property
    def owner_file(self) -> Path:
        return self.data_dir.parent / "copia.json"

    def _fingerprint(self) -> str:
        return hashlib.sha256(self.secrets()[SUPERUSER].encode()).hexdigest()[:16]

    def _mark_owner(self) -> None:
        self.owner_file.write_text(json.dumps({"copia": str(self.home), "huella": self._fingerprint()}) + "\n")

    def _orphaned(self) -> bool:
        """The data folder was made with other passwords than this copy's: when a clone under
        /root is deleted and cloned again at the same path, its folder in /var/lib/geoportal
        stays behind, and the new copy's secretos.json cannot open it."""
        if not self.initialized() or not self.owner_file.exists():
            return False
        try:
            return json.loads(self.owner_file.read_text()).get("huella") != self._fingerprint()
        except (OSError, ValueError):
            return False

    def _set_aside(self) -> None:
        """Move an unusable data folder aside (never deleted) and say so."""
        if self.running():
            self._run([str(pg_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])
        aside = self.data_dir.with_name(f"pg.anterior-{time.strftime('%Y%m%d-%H%M%S')}")
        while aside.exists():
            aside = aside.with_name(aside.name + "+")
        self.data_dir.rename(aside)
        self.owner_file.unlink(missing_ok=True)
        print(
            f"Aviso: {self.data_dir} era el clúster de una copia anterior en esta misma carpeta, con otras claves "
            f"(no están en {self.secrets_file}); quedó aparte en {aside} y se crea uno nuevo. "
            "Bórrelo cuando ya no lo necesite.",
            file=sys.stderr,
        )

    def start(self) -> None:
        if self._orphaned():
            self._set_aside()
        try:
            self._start()
            self._create_database()  # also proves this copy's passwords open the cluster
        except ClusterError as exc:
            # A folder of an earlier copy from before the owner mark: the passwords fail.
            outside = not self.data_dir.is_relative_to(self.home)
            if not (outside and "password authentication failed" in str(exc) and not self.owner_file.exists()):
                raise
            self._set_aside()
            self._start()
            self._create_database()
        if not self.owner_file.exists():
            self._mark_owner()

    def _start(self) -> None:
        actual = self.running_port()
        if actual is not None:
            if actual != self.port and self.port_fixed:
                raise ClusterError(
                    f"El clúster de esta copia ya está en marcha en el puerto {actual}, no en {self.port} "
                    f"(GEOPORTAL_PG_PORT). Deténgalo con `geoportal db down` o use GEOPORTAL_PG_PORT={actual}."
                )
            self.port = actual
            return
        self._choose_port()
        self.init()
        bindir = pg_bindir()
        if self.as_root:
            self.log_file.touch()
            shutil.chown(self.log_file, self.os_user)
        self._run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                f"-p {self.port}",
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def stop(self) -> None:
        if self.running():
            self._run([str(pg_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log_file.unlink(missing_ok=True)
        self.owner_file.unlink(missing_ok=True)
        if not self.data_dir.is_relative_to(self.home):  # its own folder in /var/lib/geoportal
            with contextlib.suppress(OSError):
                self.data_dir.parent.rmdir()  # only if nothing else (a folder set aside) is there

    def _create_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg.connect(self.url("postgres"), autocommit=True)
                break
            except psycopg.OperationalError as exc:
                if "password authentication failed" in str(exc):
                    raise ClusterError(f"password authentication failed: {self.data_dir}") from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def url(self, database: str = DATABASE) -> str:
        password = self.secrets()[SUPERUSER]
        return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{self.port}/{database}"
