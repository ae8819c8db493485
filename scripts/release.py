"""The release of the version in Cargo.toml, from zips and binaries already built (`make release` builds them).

    python3 scripts/release.py assemble OUT ARCH [ARCH ...]   every file of the release into OUT (dist/)
    python3 scripts/release.py template SRC OUT ARCH          SRC's functions pointed at the release's zips

OUT holds, for each ARCH (x86_64, arm64): each function's zip (`cloudfront-sg-sync-<version>-<function>-<arch>.zip`,
its one file `bootstrap`) and the CLI's tarball; the template of the first ARCH as `template.yaml` (any other as
`template-<arch>.yaml`), the role templates, the license and README that `sam publish` uploads, the CHANGELOG
section of the version, and `SHA256SUMS` over all of them. Each archive is written byte for byte the same from
the same binaries: fixed times, owners and modes, sorted entries.
"""
import gzip
import hashlib
import io
import os
import pathlib
import re
import shutil
import sys
import tarfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
NAME = "cloudfront-sg-sync"
# Each function of template.yaml: its cargo binary and the word in its zip's name.
FUNCTIONS = {"SyncFunction": ("cloudfront-sg-sync-lambda", "sync"),
             "RotationFunction": ("cloudfront-sg-sync-rotate", "rotation")}
CLI_BINARY = "cloudfront-sg-sync"
ROLE_TEMPLATES = ["templates/member-role.yaml", "templates/organization-role.yaml"]
# What the SAR metadata names (LicenseUrl, ReadmeUrl) and the tarball carries beside the binary.
DOCUMENTS = ["README.md", "LICENSE-APACHE", "LICENSE-MIT"]
# 1980-01-01, the earliest time a zip can hold: no build's clock reaches the archives.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FIXED_EPOCH = 315532800


def version():
    """The [package] version of Cargo.toml."""
    manifest = (ROOT / "Cargo.toml").read_text()
    package = manifest.split("[package]", 1)[1].split("\n[", 1)[0]
    return re.search(r'^version = "([^"]+)"$', package, re.M).group(1)


def zip_name(function, arch, ver):
    return f"{NAME}-{ver}-{FUNCTIONS[function][1]}-{arch}.zip"


def release_template(source, ver, arch):
    """`source` (template.yaml's text) as the release deploys it: each function's `CodeUri` is its zip, with no
    build metadata (no BuildMethod: no build, no SAM beta feature), and `Architecture` allows only `arch`."""
    text = source
    for function, (binary, _) in FUNCTIONS.items():
        build = (f"  {function}:\n    Type: AWS::Serverless::Function\n"
                 r"(    Condition: \w+\n)?"
                 "    Metadata:\n      BuildMethod: rust-cargolambda\n      BuildProperties:\n"
                 f"        Binary: {re.escape(binary)}\n"
                 r"(    Properties:\n(?:      .*\n)*?)      CodeUri: \.\n")
        replacement = (f"  {function}:\n    Type: AWS::Serverless::Function\n\\1\\2"
                       f"      CodeUri: {zip_name(function, arch, ver)}\n")
        text, count = re.subn(build, replacement, text)
        if count != 1:
            sys.exit(f"release: {function} of template.yaml is not built as expected (found {count})")
    parameter = r"  Architecture:\n    Type: String\n    Default: x86_64\n    AllowedValues: \[x86_64, arm64\]\n" \
                r"    Description: >-\n(?:      .*\n)+"
    released = (f"  Architecture:\n    Type: String\n    Default: {arch}\n    AllowedValues: [{arch}]\n"
                f"    Description: >-\n      CPU architecture of the function: this template's zips are built for {arch}.\n"
                f"      A release's template.yaml runs x86_64 zips, its template-arm64.yaml arm64 ones.\n")
    text, count = re.subn(parameter, released, text)
    if count != 1:
        sys.exit("release: the Architecture parameter of template.yaml is not as expected")
    if "BuildMethod" in text or "CodeUri: .\n" in text:
        sys.exit("release: a function of template.yaml is still built from source")
    return text


def deterministic_zip(path, name, data, mode=0o755):
    """A zip of one file `name` holding `data`, the same bytes for the same data."""
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.external_attr = (0o100000 | mode) << 16
    info.create_system = 3  # Unix, so the mode is read
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(info, data, compresslevel=9)


def deterministic_tarball(path, top, files):
    """A .tar.gz of `files` ({name: (bytes, mode)}) under `top/`, the same bytes for the same files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data, mode = files[name]
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode, info.mtime = len(data), mode, FIXED_EPOCH
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    with open(path, "wb") as out, gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(buffer.getvalue())


def built_binary(binary, arch):
    """The binary `cargo lambda build --lambda-dir <target>/lambda/<arch>` wrote (scripts/release.sh)."""
    path = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "lambda" / arch / binary / "bootstrap"
    if not path.exists():
        sys.exit(f"release: {binary} for {arch} is not built ({path}): run `make release`")
    return path.read_bytes()


def changelog_section(ver):
    """The CHANGELOG's section of `ver`, its heading included."""
    text = (ROOT / "CHANGELOG.md").read_text()
    match = re.search(rf"^## {re.escape(ver)}\b.*?(?=^## |\Z)", text, re.M | re.S)
    if not match:
        sys.exit(f"release: CHANGELOG.md has no section ## {ver}")
    return match.group(0).rstrip() + "\n"


def assemble(out, archs):
    ver = version()
    out = pathlib.Path(out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    source = (ROOT / "template.yaml").read_text()
    for index, arch in enumerate(archs):
        for function, (binary, _) in FUNCTIONS.items():
            deterministic_zip(out / zip_name(function, arch, ver), "bootstrap", built_binary(binary, arch))
        files = {CLI_BINARY: (built_binary(CLI_BINARY, arch), 0o755)}
        files.update({doc: ((ROOT / doc).read_bytes(), 0o644) for doc in DOCUMENTS})
        deterministic_tarball(out / f"{NAME}-{ver}-cli-{arch}-linux.tar.gz", f"{NAME}-{ver}", files)
        template = "template.yaml" if index == 0 else f"template-{arch}.yaml"
        (out / template).write_text(release_template(source, ver, arch))
    for name in ROLE_TEMPLATES + DOCUMENTS:
        shutil.copyfile(ROOT / name, out / pathlib.Path(name).name)
    (out / f"CHANGELOG-{ver}.md").write_text(changelog_section(ver))
    sums = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in sorted(out.iterdir())]
    (out / "SHA256SUMS").write_text("".join(sums))
    for line in sums:
        digest, name = line.split()
        print(f"{name:<58} {(out / name).stat().st_size:>10,} bytes  sha256 {digest[:16]}…")


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "assemble":
        assemble(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 5 and sys.argv[1] == "template":
        text = release_template(pathlib.Path(sys.argv[2]).read_text(), version(), sys.argv[4])
        pathlib.Path(sys.argv[3]).write_text(text)
    elif len(sys.argv) == 2 and sys.argv[1] == "version":
        print(version())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
