"""requests-oauthlib (Debian's python3-requests-oauthlib) against the server.

Run by test/interop/requests-oauthlib.test.ts with /usr/bin/python3; prints one JSON object
on stdout with what the library returned, which the node test asserts. Any unexpected error
propagates (traceback on stderr, non-zero exit), and the node test fails with it.

Input, from the environment: INTEROP_BASE (http://127.0.0.1:PORT), INTEROP_USERNAME,
INTEROP_PASSWORD, INTEROP_CLIENT_ID. The server is plain HTTP on the loopback, so the node
test sets OAUTHLIB_INSECURE_TRANSPORT=1 (oauthlib refuses http:// otherwise).

Exit 3 with {"missing": "..."} when requests-oauthlib cannot be imported.
"""

import json
import os
import sys

try:
    from oauthlib.oauth2 import LegacyApplicationClient
    from oauthlib.oauth2.rfc6749.errors import OAuth2Error
    from requests_oauthlib import OAuth2Session
except ImportError as error:  # pragma: no cover - the node test skips on this
    print(json.dumps({'missing': str(error)}))
    sys.exit(3)

TIMEOUT = 10  # seconds, each HTTP request

base = os.environ['INTEROP_BASE']
username = os.environ['INTEROP_USERNAME']
password = os.environ['INTEROP_PASSWORD']
client_id = os.environ['INTEROP_CLIENT_ID']
token_url = base + '/token'


def oauth_error(error):
    """What oauthlib made of an RFC 6749 section 5.2 error response."""
    return {
        'type': type(error).__name__,
        'error': error.error,
        'description': error.description,
        'status_code': error.status_code,
    }


def resource(response):
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return {
        'status': response.status_code,
        'www_authenticate': response.headers.get('WWW-Authenticate'),
        'authorization_sent': response.request.headers.get('Authorization'),
        'body': body,
    }


out = {}

# A wrong password: oauthlib raises the error named by the server's body.
try:
    OAuth2Session(client=LegacyApplicationClient(client_id=client_id)).fetch_token(
        token_url, username=username, password=password + ' not', timeout=TIMEOUT)
    out['wrong_password'] = None
except OAuth2Error as error:
    out['wrong_password'] = oauth_error(error)

# The password grant (RFC 6749 section 4.3), scope narrowed to 'me'. The client id goes in an
# HTTP Basic header with an empty secret, as requests-oauthlib does by default. The scope is
# given to both: oauthlib's client sends it (requests-oauthlib 1.3 does not pass the session's
# scope to fetch_token's body), and the session checks the answer against it ("Scope has changed").
scope = ['me']
session = OAuth2Session(client=LegacyApplicationClient(client_id=client_id, scope=scope), scope=scope)
token = session.fetch_token(token_url, username=username, password=password, timeout=TIMEOUT)
out['token'] = dict(token)
first_refresh_token = token['refresh_token']

# The refresh grant (section 6), as requests-oauthlib documents it for legacy clients: the
# client id in the body. The session keeps the answer as its token.
refreshed = session.refresh_token(token_url, client_id=client_id, timeout=TIMEOUT)
out['refreshed'] = dict(refreshed)
out['session_token_after_refresh'] = dict(session.token)

# A protected resource with the session: it sends the refreshed access token.
out['me'] = resource(session.get(base + '/users/me', timeout=TIMEOUT))

# The spent refresh token again within the reuse interval (a lost answer, a second tab): the
# same successor, and a new access token of the same session.
replay = session.refresh_token(token_url, refresh_token=first_refresh_token, client_id=client_id, timeout=TIMEOUT)
out['replay'] = dict(replay)

# The successor used (the session sends the token it holds): from then on the spent refresh
# token is reuse, invalid_grant, and the whole session ends, so the access token the session
# holds is refused.
out['successor_used'] = dict(session.refresh_token(token_url, client_id=client_id, timeout=TIMEOUT))
try:
    session.refresh_token(token_url, refresh_token=first_refresh_token, client_id=client_id, timeout=TIMEOUT)
    out['reuse'] = None
except OAuth2Error as error:
    out['reuse'] = oauth_error(error)
out['me_after_reuse'] = resource(session.get(base + '/users/me', timeout=TIMEOUT))

print(json.dumps(out))
