"""Fingerprints of an OpenSSH public key in every form a cloud reports, and key generation.

Clouds fingerprint an imported key differently: Nova (and RFC 4716) the MD5 of the OpenSSH key blob;
EC2 the MD5 of the DER public key for RSA, the SHA-256 (OpenSSH's base64 form) for ED25519; moto the
SHA-256 of the DER key as hex for ED25519. A key "is ours" on a cloud when the cloud's fingerprint is one
of these forms of our public key.
"""

from __future__ import annotations

import base64
import hashlib
import re

HEX = re.compile(r"^[0-9a-fA-F]{2}(:?[0-9a-fA-F]{2})+$")


def _colon(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def normalise(fingerprint: str) -> str:
    """One spelling per fingerprint: no ``MD5:``/``SHA256:`` prefix, hex lowercase with colons, base64
    without padding."""
    text = fingerprint.strip()
    for prefix in ("MD5:", "SHA256:"):
        text = text.removeprefix(prefix)
    if HEX.match(text):
        raw = text.replace(":", "").lower()
        return ":".join(raw[i : i + 2] for i in range(0, len(raw), 2))
    return text.rstrip("=")


def fingerprints(public_key: str) -> set[str]:
    """Every normalised fingerprint a cloud may report for ``public_key`` (empty if it is not a key)."""
    try:
        blob = base64.b64decode(public_key.split()[1], validate=True)
    except (IndexError, ValueError):
        return set()
    out = {
        _colon(hashlib.md5(blob, usedforsecurity=False).digest()),
        base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("="),
    }
    der = _der(public_key)
    if der:
        out |= {
            _colon(hashlib.md5(der, usedforsecurity=False).digest()),
            _colon(hashlib.sha256(der).digest()),
        }
    return out


def same_key(cloud_fingerprint: str, public_key: str) -> bool:
    return bool(cloud_fingerprint) and normalise(cloud_fingerprint) in fingerprints(public_key)


def _der(public_key: str) -> bytes | None:
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_ssh_public_key(public_key.strip().encode())
    except (ValueError, TypeError):  # malformed, or a key type cryptography does not read
        return None
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def generate_keypair(comment: str) -> tuple[str, str]:
    """A new ED25519 keypair: (private key in OpenSSH format, public key line)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, f"{public.decode()} {comment}".strip()
