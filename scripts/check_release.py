"""What a user deploying dist/ meets, checked (`make check-release`, after `make release`):

- every function of each release template points at a zip of dist/ holding one executable `bootstrap`;
- `sam package` of each template into a fresh moto's S3 rewrites every `CodeUri` to an S3 object whose bytes are
  the zip's, and the Serverless Application Repository's LicenseUrl and ReadmeUrl to the files of dist/.

    .venv/bin/python scripts/check_release.py dist
"""
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import zipfile

import boto3
from cfnlint.decode import cfn_yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAM = ROOT / ".venv-sam" / "bin" / "sam"
BUCKET = "release-artifacts"


def fail(message):
    print(f"FAILED: {message}")
    sys.exit(1)


def functions(template):
    return {name: r["Properties"] for name, r in template["Resources"].items()
            if r["Type"] == "AWS::Serverless::Function"}


def check_zips(dist, template_path):
    """Each function's CodeUri: a zip of dist/ whose one entry is an executable bootstrap."""
    template = cfn_yaml.load(str(template_path))
    for name, props in functions(template).items():
        zip_path = dist / props["CodeUri"]
        if not zip_path.is_file():
            fail(f"{template_path.name}: {name}'s CodeUri {props['CodeUri']} is not in {dist}")
        with zipfile.ZipFile(zip_path) as archive:
            entries = archive.infolist()
            if [e.filename for e in entries] != ["bootstrap"] or not (entries[0].external_attr >> 16) & 0o111:
                fail(f"{zip_path.name}: not one executable bootstrap: {[e.filename for e in entries]}")
        print(f"ok: {template_path.name}: {name} runs {zip_path.name} (one executable bootstrap)")


def start_moto():
    port = subprocess.run([sys.executable, str(ROOT / "scripts/free_port.py")], capture_output=True, text=True,
                          check=True).stdout.strip()
    moto = subprocess.Popen([str(ROOT / ".venv/bin/moto_server"), "-H", "127.0.0.1", "-p", port],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    for _ in range(300):
        try:
            s3.list_buckets()
            return moto, endpoint, s3
        except Exception:  # not listening yet
            time.sleep(0.1)
    moto.kill()
    fail("moto_server did not start")


def s3_object(s3, uri):
    """The bytes of `s3://bucket/key` or of an https S3 URL, as sam package writes them."""
    if uri.startswith("s3://"):
        bucket, key = uri[len("s3://"):].split("/", 1)
    else:
        bucket, key = BUCKET, uri.rsplit(f"/{BUCKET}/", 1)[1]
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def check_package(dist, template_path, endpoint, s3):
    """`sam package` into moto's S3: every CodeUri, LicenseUrl and ReadmeUrl an object equal to its file."""
    with tempfile.TemporaryDirectory() as scratch:
        packaged = pathlib.Path(scratch) / "packaged.yaml"
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1", SAM_CLI_TELEMETRY="0")
        run = subprocess.run([str(SAM), "package", "--template-file", str(template_path), "--s3-bucket", BUCKET,
                              "--output-template-file", str(packaged)], env=env, capture_output=True, text=True)
        if run.returncode != 0:
            fail(f"sam package {template_path.name}: {run.stdout}{run.stderr}")
        source, result = cfn_yaml.load(str(template_path)), cfn_yaml.load(str(packaged))
    for name, props in functions(result).items():
        local = functions(source)[name]["CodeUri"]
        if s3_object(s3, props["CodeUri"]) != (dist / local).read_bytes():
            fail(f"{template_path.name}: {name}'s uploaded code is not {local}")
        print(f"ok: sam package {template_path.name}: {name}'s CodeUri {props['CodeUri']} holds {local}'s bytes")
    application = result["Metadata"]["AWS::ServerlessRepo::Application"]
    local = source["Metadata"]["AWS::ServerlessRepo::Application"]
    for field in ("LicenseUrl", "ReadmeUrl"):
        if s3_object(s3, application[field]) != (dist / local[field]).read_bytes():
            fail(f"{template_path.name}: {field} uploaded is not {local[field]}")
        print(f"ok: sam package {template_path.name}: {field} holds {local[field]}'s bytes")


def main():
    dist = pathlib.Path(sys.argv[1]).resolve()
    templates = sorted(dist.glob("template*.yaml"))
    if not templates:
        fail(f"no template in {dist}: run `make release`")
    for template in templates:
        check_zips(dist, template)
    moto, endpoint, s3 = start_moto()
    try:
        s3.create_bucket(Bucket=BUCKET)
        for template in templates:
            check_package(dist, template, endpoint, s3)
    finally:
        moto.kill()
        moto.wait()


if __name__ == "__main__":
    main()
