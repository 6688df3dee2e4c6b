"""The demo identity: the token a fresh simulator accepts and the LTX Studio user it configures for it.

``ltx-mock serve`` without ``--token``, the ``ltx_mock`` fixture and ``mock_ltxstudio()`` start with
``DEMO_TOKEN``; ``ltx-mock check`` sends it to a loopback server when no token is given. It is written once, here
at the bottom of the layers (every part may import ``contracts``, as it does for the version in ``version.py``),
so the simulator, the checker, the test tooling, the tests and the benchmarks cannot drift apart.
"""

DEMO_TOKEN = "demo-token"
DEMO_EMAIL = "demo@example.com"
