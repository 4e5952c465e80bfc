"""Serve the real Keystone or Glance WSGI app on 127.0.0.1:0 with Werkzeug; print the port.

Runs with the interpreter of the OpenStack venv (.venv-openstack), not the project's: it imports only
the standard library, Werkzeug and the service itself.

    .venv-openstack/bin/python openstack_real_serve.py keystone|glance CONFIG_DIR
"""

import os
import sys


def main() -> None:
    service, config_dir = sys.argv[1], sys.argv[2]
    sys.argv = sys.argv[:1]  # oslo.config parses sys.argv
    if service == "keystone":
        os.environ.update(OS_KEYSTONE_CONFIG_DIR=config_dir, OS_KEYSTONE_CONFIG_FILES="keystone.conf")
        from keystone.server import wsgi

        app = wsgi.initialize_public_application()
    else:
        os.environ["OS_GLANCE_CONFIG_DIR"] = config_dir
        from glance.common import wsgi_app

        app = wsgi_app.init_app()
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
