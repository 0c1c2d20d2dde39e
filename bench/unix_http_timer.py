#!/usr/bin/env python3
"""Times HTTP requests to a Unix socket from a process that is already running, so that no
client start-up is in the figures (curl's alone is tens of milliseconds here).

Usage: unix_http_timer.py SOCKET; reads "METHOD PATH" lines on stdin and, for each, sends
the request on a new connection and prints "STATUS MICROSECONDS" once the whole response
has arrived."""
import http.client
import socket
import sys
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.unix_path)


for line in sys.stdin:
    method, path = line.split()
    t0 = time.perf_counter_ns()
    conn = UnixConnection(sys.argv[1])
    conn.request(method, path)
    response = conn.getresponse()
    response.read()
    conn.close()
    print(response.status, (time.perf_counter_ns() - t0) // 1000, flush=True)
