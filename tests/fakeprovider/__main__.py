"""Serve one reply from `responses/` on a free loopback port until stopped, in its own process
(so its work does not share the measuring process's GIL). Prints the URL first.

    python -m fakeprovider openai_chat.json
"""

import sys

from .server import FakeProvider, reply

server = FakeProvider()
server.serve(reply(sys.argv[1]))
print(server.url, flush=True)
server.run()
