"""The token credential the Sentinel SDK scripts here use against `seliq-mocks serve`.

azure-identity's ClientSecretCredential (MSAL) accepts only an https authority with OpenID
discovery, which a plain-http loopback mock is not; this asks the mock's Entra ID v2 endpoint
(`POST /{tenant}/oauth2/v2.0/token`, client credentials) directly.
"""
import time

import requests
from azure.core.credentials import AccessToken


class MockAuthorityCredential:
    """A TokenCredential that asks the mock's token endpoint (client credentials grant)."""

    def __init__(self, authority, tenant_id, client_id, client_secret):
        self.url = f"{authority}/{tenant_id}/oauth2/v2.0/token"
        self.client_id, self.client_secret = client_id, client_secret
        self.requests = 0

    def get_token(self, *scopes, **kwargs):
        self.requests += 1
        r = requests.post(self.url, data={
            "grant_type": "client_credentials", "client_id": self.client_id,
            "client_secret": self.client_secret, "scope": " ".join(scopes)}, timeout=10)
        r.raise_for_status()
        body = r.json()
        return AccessToken(body["access_token"], int(time.time()) + int(body["expires_in"]))
