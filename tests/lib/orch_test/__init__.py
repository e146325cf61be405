"""Helpers the pytest suites under tests/ share (tests/pytest.ini puts
tests/lib on sys.path; tests/conftest.py holds the hooks every suite uses).

  binary        the binary under test: $ORCH_BIN, else build/orch
  require       require()/requires(): skip a test the machine cannot run,
                or fail it under CI=true
  wait          wait_for (raises on timeout), wait_until (returns the value)
  net           free ports, waiting for a port, reading a socket to its end
  api           the HTTPS API client, TLS trust, raw requests, task definitions
  process       a process of the binary with its log file
  server        `orch server` processes and their failure logs
  db            the sqlite3 CLI on a stopped server's database
  images        the offline test images and the busybox rootfs layer
  registry      a local docker-registry; fake_registry: a scripted one
  containers    `orch run` and friends on a data dir, and what they leave
  netns         the test network of the multi-host tests
  cluster       a server and agents in their namespaces
  fake_agent    a scripted agent speaking the agent protocol
  lb            backends, `orch lb` processes and raw HTTP/TLS clients
"""
