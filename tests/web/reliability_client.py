"""The second process of the reliability test: submits every grid in a jobs file to a server that
is being killed and restarted, retrying each until it is acknowledged (bounded in time).

    python reliability_client.py BASE_URL JOBS.json ACKS.txt DEADLINE_S

Each acknowledgement is one line ``<job index> <repeat 0/1>`` in ACKS.txt; a summary (JSON) goes to
stdout at the end.
"""

from __future__ import annotations

import json
import sys
import time

import httpx


def main(base_url: str, jobs_path: str, acks_path: str, deadline_s: float) -> None:
    with open(jobs_path) as handle:
        jobs = json.loads(handle.read())
    deadline = time.monotonic() + deadline_s
    summary = {"acknowledged": 0, "repeats": 0, "connection_errors": 0, "server_errors": 0, "gave_up": 0}
    with open(acks_path, "w") as acks, httpx.Client(base_url=base_url, timeout=5.0) as client:
        for index, job in enumerate(jobs):
            while True:
                if time.monotonic() > deadline:
                    summary["gave_up"] += 1
                    break
                try:
                    response = client.post(job["url"], json={"selected": job["selected"]})
                except httpx.HTTPError:
                    summary["connection_errors"] += 1
                    time.sleep(0.02)
                    continue
                if response.status_code == 200:
                    repeat = bool(response.json()["repeat"])
                    summary["acknowledged"] += 1
                    summary["repeats"] += repeat
                    acks.write(f"{index} {int(repeat)}\n")
                    acks.flush()
                    break
                summary["server_errors"] += 1
                if response.status_code < 500:
                    raise SystemExit(f"job {index}: refused with {response.status_code}: {response.text}")
                time.sleep(0.05)
    print(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))
