"""The moto S3 server behind a check of query-signed URLs as S3 makes it: moto 5 serves a
URL carrying any `X-Amz-Signature` without checking it, so this WSGI layer refuses (403)
one whose signature is not what botocore's SigV4 signer makes from the server's credentials
for this very request, or whose `X-Amz-Date` + `X-Amz-Expires` has passed, and (400) one
that carries an Authorization header as well."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from threading import Thread
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from cadenza.devstack.ports import free_port

ACCESS_KEY = "test-access"
SECRET_KEY = "test-secret"
REGION = "us-east-1"

StartResponse = Any
Environ = dict[str, Any]


def refusal(environ: Environ) -> tuple[int, str, str] | None:
    """(status, S3's error code, its message) for a signed URL S3 would refuse; None
    otherwise."""
    query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    given = dict(query)
    if "X-Amz-Signature" not in given:
        return None
    if environ.get("HTTP_AUTHORIZATION"):
        return 400, "InvalidArgument", "Only one auth mechanism allowed"
    signed_at = datetime.strptime(given["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    expires_s = int(given["X-Amz-Expires"])
    host = environ["HTTP_HOST"]
    unsigned = urlencode([(k, v) for k, v in query if k != "X-Amz-Signature"], quote_via=quote)
    request = AWSRequest(
        method=environ["REQUEST_METHOD"],
        url=f"http://{host}{environ['PATH_INFO']}?{unsigned}",
        headers={"host": host},
    )
    request.context["timestamp"] = given["X-Amz-Date"]  # what S3 signs is the URL's time
    auth = S3SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION, expires_s)
    expected = auth.signature(
        auth.string_to_sign(request, auth.canonical_request(request)), request
    )
    if expected != given["X-Amz-Signature"]:
        return 403, "SignatureDoesNotMatch", "The request signature we calculated does not match"
    if datetime.now(UTC) > signed_at + timedelta(seconds=expires_s):
        return 403, "AccessDenied", "Request has expired"
    return None


class SignedUrlChecks:
    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        problem = refusal(environ)
        if problem is None:
            result: Iterable[bytes] = self.app(environ, start_response)
            return result
        status, code, message = problem
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
        start_response(
            f"{status} {'Bad Request' if status == 400 else 'Forbidden'}",
            [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
        )
        return [body]


@contextmanager
def checking_s3() -> Iterator[str]:
    """A moto S3 server on loopback that checks signed URLs; yields its endpoint URL."""
    port = free_port()
    app = SignedUrlChecks(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join()
