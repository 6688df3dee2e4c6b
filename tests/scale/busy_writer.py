"""A client process that keeps one server writing for one account (not a test module: run by
test_scale_redis_accounts_apart.py as ``python busy_writer.py URL TOKEN EMAIL THREADS``).

Each thread admits a job (``POST /images/create``) and cancels it (``DELETE /scheduler/{jobId}``), over
and over, so the server is always in the middle of a write. It prints ``busy`` once 20 jobs were
admitted and runs until killed. Load from another process than the test's: the test measures another
account's answers, and threads of its own would compete with them for its GIL.
"""

from __future__ import annotations

import sys
import threading
import time

import requests

ADMITTED_BEFORE_BUSY = 20


def main(url: str, token: str, email: str, threads: int) -> None:
    admitted = 0
    lock = threading.Lock()

    def loop() -> None:
        nonlocal admitted
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        base = f"{url}/v1/ltxstudio"
        while True:
            try:
                resp = session.post(f"{base}/images/create", json={"prompt": "busy", "email": email}, timeout=60)
                if resp.status_code == 200:
                    session.delete(f"{base}/scheduler/{resp.json()['jobId']}", timeout=60)
                    with lock:
                        admitted += 1
                        if admitted == ADMITTED_BEFORE_BUSY:
                            print("busy", flush=True)
            except requests.RequestException:  # the server stopped under us: the test is over
                time.sleep(0.05)
                session = requests.Session()
                session.headers["Authorization"] = f"Bearer {token}"

    for _ in range(threads):
        threading.Thread(target=loop, daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
