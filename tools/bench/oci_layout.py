#!/usr/bin/env python3
"""Writes an OCI image layout of a rootfs directory split into N layers (for the image benches).

    oci_layout.py ROOTFS OUT N [EXTRA_NAME EXTRA_CONTENT]

The rootfs's top-level entries (and /usr's) are dealt into N layers of about equal size, each an
uncompressed tar; EXTRA_NAME adds one more layer holding that one file (an image that shares the
first N layers with another made with a different extra file).
"""
import hashlib
import io
import json
import os
import sys
import tarfile


def blob(out, data):
    digest = hashlib.sha256(data).hexdigest()
    os.makedirs(f"{out}/blobs/sha256", exist_ok=True)
    with open(f"{out}/blobs/sha256/{digest}", "wb") as f:
        f.write(data)
    return f"sha256:{digest}", len(data)


def du(path):
    total = 0
    for base, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(base, f)).st_size
            except OSError:
                pass
    return total


def tar_of(root, members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for m in members:
            t.add(os.path.join(root, m), arcname=m, recursive=True)
    return buf.getvalue()


def main(rootfs, out, n, extra=None):
    units = []
    for e in sorted(os.listdir(rootfs)):
        if e == "usr" and os.path.isdir(os.path.join(rootfs, e)) and not os.path.islink(os.path.join(rootfs, e)):
            units += [f"usr/{u}" for u in sorted(os.listdir(os.path.join(rootfs, "usr")))]
        else:
            units.append(e)
    units.sort(key=lambda u: -du(os.path.join(rootfs, u)))
    groups = [[] for _ in range(n)]
    sizes = [0] * n
    for u in units:  # largest first, into the lightest layer
        i = sizes.index(min(sizes))
        groups[i].append(u)
        sizes[i] += du(os.path.join(rootfs, u))
    layers, diff_ids = [], []
    tars = [tar_of(rootfs, sorted(g)) for g in groups]
    if extra:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            data = extra[1].encode()
            info = tarfile.TarInfo(extra[0])
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        tars.append(buf.getvalue())
    for data in tars:
        d, size = blob(out, data)
        diff_ids.append(d)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": size})
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    cd, cs = blob(out, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
                           "layers": layers}).encode()
    md, ms = blob(out, manifest)
    with open(f"{out}/index.json", "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms}]}, f)
    with open(f"{out}/oci-layout", "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) not in (3, 5):
        sys.exit(__doc__)
    main(a[0], a[1], int(a[2]), (a[3], a[4]) if len(a) == 5 else None)
