"""A throwaway certificate authority and a server certificate it signed, made with the
openssl command at test time, for serving real TLS on 127.0.0.1 (deploy/nginx.conf's https).

Without openssl the tests that need it are skipped with the reason, except under CI=true,
where its absence fails the run.
"""

from __future__ import annotations

import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.system import require_program

# What a browser (and Python's default context) checks of a server certificate: the name in
# its subjectAltName, signed by a CA whose key identifiers chain it.
_SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the CA's certificate: what a client trusts
    certificate: Path  # the server's, for 127.0.0.1 and localhost
    key: Path  # the server's private key

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting this CA only, checking the host name as browsers do."""
        return ssl.create_default_context(cafile=str(self.ca))


def make_certificates(directory: Path) -> Certificates:
    openssl = require_program("/usr/bin/openssl", "openssl")
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key = directory / "server.pem", directory / "server.key"
    request = directory / "server.csr"
    extensions = directory / "server.ext"
    extensions.write_text(_SERVER_EXTENSIONS)
    # P-256 keys: generated at once, where RSA keys take a noticeable moment.
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for args in (
            ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
             "-subj", "/CN=Nirvana test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ["req", *ec, "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-set_serial", "1",
             "-days", "2", "-extfile", extensions, "-out", cert]):
        done = subprocess.run([openssl, *map(str, args)], capture_output=True, text=True,
                              timeout=30)
        assert done.returncode == 0, f"openssl {args[0]}: {done.stderr}"
    return Certificates(ca=ca, certificate=cert, key=key)
