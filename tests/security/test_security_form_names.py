"""A multipart part whose name werkzeug cannot read (its closing quote escaped) is a 400, journaled, never a 500.

Found by the fuzzing phase of the contract run: werkzeug gives such a part the name None, and the journal's
form masking turned the answer into a 500 after the view had answered 400.
"""

from __future__ import annotations

from typing import Any

import requests

BOUNDARY = "b0undary"


def _part(name: str, value: str) -> str:
    return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'


def test_security_unreadable_part_name_is_a_400_and_journaled(ltx_mock: Any) -> None:
    body = (_part("prompt", "a fox") + _part("weird\\", "true") + _part("model", "veo3-fast")
            + _part("aspectRatio", "1:1") + f"--{BOUNDARY}--\r\n").encode()
    resp = requests.post(f"{ltx_mock.base_url}/videos/veo-create", data=body, timeout=10,
                         headers={**ltx_mock.headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert resp.status_code == 400, resp.text
    assert set(resp.json()) == {"error", "code"} and resp.json()["code"] == 400
    assert ltx_mock.admin.count_requests(method="POST", path="*/videos/veo-create") == 1
