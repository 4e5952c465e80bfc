"""The config disk a libvirt VM boots with: a cloud-init NoCloud seed (an ISO 9660 volume labelled
``cidata`` holding ``user-data`` and ``meta-data``), written in memory by pycdlib, so building one needs
neither root nor genisoimage. CernVM and every cloud-init image read it at boot.
"""

from __future__ import annotations

import io
import json


def meta_data(vm_id: str) -> bytes:
    """NoCloud's meta-data: the instance id (cloud-init runs once per id) and host name are our VM id,
    and ``cs_vm_id`` says it for whoever reads the disk (the same id joins the startd)."""
    return json.dumps({"instance-id": vm_id, "local-hostname": vm_id, "cs_vm_id": vm_id}).encode()


def build(user_data: bytes, meta: bytes) -> bytes:
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident="cidata")
    for short, name, data in (("USERDATA.;1", "user-data", user_data), ("METADATA.;1", "meta-data", meta)):
        iso.add_fp(io.BytesIO(data), len(data), f"/{short}", rr_name=name, joliet_path=f"/{name}")
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def read(image: bytes) -> dict[str, bytes]:
    """The files of a config disk by name (what a guest's cloud-init would find), and its label."""
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(image))
    try:
        files = {}
        for name in ("user-data", "meta-data"):
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, rr_path=f"/{name}")
            files[name] = out.getvalue()
        files["label"] = iso.pvd.volume_identifier.decode().strip().encode()
        return files
    finally:
        iso.close()
