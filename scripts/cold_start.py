"""Cold start of the deployable bootstrap: process start -> its first Runtime API `next` poll (median of N runs).

The same interval as `bench_ec2 -- cold`, without building the benchmark profile:
    python3 scripts/cold_start.py target/lambda/cloudfront-sg-sync-lambda/bootstrap [runs]
Only 127.0.0.1 is used: the Runtime API is a local socket that accepts the poll and never answers it.
"""
import os
import socket
import statistics
import subprocess
import sys
import time

binary = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
samples = []
for _ in range(runs):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{port}", AWS_REGION="us-east-1",
               AWS_LAMBDA_FUNCTION_NAME="cold", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
               AWS_LAMBDA_FUNCTION_VERSION="1", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")
    started = time.perf_counter()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    connection, _ = listener.accept()
    connection.recv(4096)
    samples.append((time.perf_counter() - started) * 1000)
    process.kill()
    process.wait()
    connection.close()
    listener.close()
print(f"cold start: median {statistics.median(samples):.1f} ms over {runs} runs "
      f"(min {min(samples):.1f}, max {max(samples):.1f})")
