#!/usr/bin/env python3
"""Writes a one-layer OCI image archive from local files, for the test node's containerd
(`ctr images import`): no registry, no Docker engine, no image tool needed.

usage: oci-image.py OUT.tar NAME:TAG --config JSON [--lib BINARY]... [DEST=SRC | DEST->TARGET]...

  DEST=SRC       copies the host file SRC to DEST in the image (mode kept)
  DEST->TARGET   a symlink DEST pointing at TARGET
  --lib BINARY   adds the shared libraries BINARY links (as `ldd` resolves them, plus the dynamic
                 loader), at the same paths, so a glibc release binary runs as it does on this host
  --config JSON  the image config's `config` object (Entrypoint, Env, User, WorkingDir, ...)

The archive is an OCI image layout (oci-layout, index.json, blobs/sha256/...): one uncompressed layer
(so its diff_id equals its digest), a config with rootfs.diff_ids, one manifest, and an index entry
annotated `io.containerd.image.name: NAME:TAG`, which is the name containerd imports it under.
Files are written with fixed owners and times, so the same inputs give the same digests.
"""
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile


def shared_libraries(binary):
    """Absolute paths of the libraries `binary` links, and its loader, as this host resolves them."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if out.returncode != 0:
        return []  # "not a dynamic executable": a static binary needs nothing
    libs = []
    for line in out.stdout.splitlines():
        m = re.search(r"(/\S+) \(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


def layer(entries):
    """An uncompressed tar of `entries` [(dest, kind, value)] with parent directories, sorted."""
    buf = io.BytesIO()
    dirs = set()
    for dest, _, _ in entries:
        parts = dest.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(info, data=None):
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            tar.addfile(info, data)

        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            add(info)
        for dest, kind, value in sorted(entries):
            info = tarfile.TarInfo(dest.strip("/"))
            if kind == "link":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, value, 0o777
                add(info)
            else:
                real = os.path.realpath(value)
                info.size = os.path.getsize(real)
                info.mode = os.stat(real).st_mode & 0o7777
                with open(real, "rb") as f:
                    add(info, f)
    return buf.getvalue()


def blob(tar, data):
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))
    return {"digest": f"sha256:{digest}", "size": len(data)}


def main(argv):
    out, ref, rest = argv[0], argv[1], argv[2:]
    config, entries, seen = {}, [], set()
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--config":
            config = json.loads(rest[i + 1])
            i += 2
            continue
        if arg == "--lib":
            for lib in shared_libraries(rest[i + 1]):
                if lib not in seen:
                    seen.add(lib)
                    entries.append((lib, "file", lib))
            i += 2
            continue
        if "->" in arg:
            dest, target = arg.split("->", 1)
            entries.append((dest, "link", target))
        else:
            dest, src = arg.split("=", 1)
            entries.append((dest, "file", src))
        i += 1

    layer_bytes = layer(entries)
    with tarfile.open(out, "w") as tar:
        layer_desc = blob(tar, layer_bytes)
        image_config = {
            "architecture": "amd64",
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
            "history": [{"created_by": "scripts/oci-image.py"}],
        }
        config_desc = blob(tar, json.dumps(image_config, sort_keys=True).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer_desc}],
        }
        manifest_desc = blob(tar, json.dumps(manifest, sort_keys=True).encode())
        index = {
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest_desc,
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {"io.containerd.image.name": ref,
                                "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1]},
            }],
        }
        for name, doc in (("oci-layout", {"imageLayoutVersion": "1.0.0"}), ("index.json", index)):
            data = json.dumps(doc, sort_keys=True).encode()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1:])
