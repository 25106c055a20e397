"""Drives python-zaqarclient against zaqar-server with Keystone authentication.

Run by e2e/keystone_test.go with Debian's /usr/bin/python3. argv[1] is a JSON
object {zaqar, auth_url, username, password, project, queue, other_project};
the report is one JSON object on stdout, checked by the Go test. Any
unexpected error ends the script with a traceback and a non-zero status.
"""
import json
import sys

from zaqarclient.queues.v2 import client
from zaqarclient.transport import errors

args = json.loads(sys.argv[1])
keystone = {'auth_opts': {'backend': 'keystone', 'options': {
    'os_auth_url': args['auth_url'],
    'os_username': args['username'],
    'os_password': args['password'],
    'os_project_name': args['project'],
    'os_user_domain_name': 'Default',
    'os_project_domain_name': 'Default',
}}}
cli = client.Client(args['zaqar'], version=2, conf=keystone)
out = {}


def queue_names(c):
    queues, _ = c.queues()
    return sorted(q.name for q in queues)


def ids(listing):
    return [m.id for m in listing]


def refused(f):
    """The HTTP status of a refused call; 0 when the server accepted it."""
    try:
        f()
    except errors.TransportError as e:
        return e.code
    return 0


# Queues: create two, delete one.
q = cli.queue(args['queue'], force_create=True)
tmp = cli.queue(args['queue'] + '-tmp', force_create=True)
out['queues_before'] = queue_names(cli)
tmp.delete()
out['queues_after'] = queue_names(cli)

# Messages and claims.
posted = q.post([{'body': {'n': i}, 'ttl': 600} for i in range(5)])
out['posted'] = [r.rsplit('/', 1)[-1] for r in posted['resources']]
out['listed'] = ids(q.messages(echo=True))
claim = q.claim(ttl=60, grace=60, limit=2)
claimed = list(claim)
out['claim_id'] = claim.id
out['claimed'] = [{'id': m.id, 'claim_id': m.claim_id} for m in claimed]
claimed[0].delete()  # deletes with ?claim_id=
out['deleted'] = claimed[0].id
out['stats_claimed'] = q.stats['messages']
claim.delete()
out['stats_released'] = q.stats['messages']
out['listed_after'] = ids(q.messages(echo=True, include_claimed=True))

# Pre-signed URL: a client with no Keystone credentials at all.
signed = q.signed_url(paths=['messages'], methods=['GET', 'POST'])
out['signed'] = signed


def signed_queue(**override):
    opts = {'paths': signed['paths'], 'methods': signed['methods'],
            'expires': signed['expires'], 'signature': signed['signature'],
            'os_project_id': signed['project']}
    opts.update(override)
    conf = {'auth_opts': {'backend': 'signed-url', 'options': opts}}
    # auto_create: v2 queues are created lazily, so no request is sent here.
    return client.Client(args['zaqar'], version=2, conf=conf).queue(args['queue'])


sq = signed_queue()
sposted = sq.post({'body': 'via signed url', 'ttl': 600})
out['signed_posted'] = [r.rsplit('/', 1)[-1] for r in sposted['resources']]
listing = list(sq.messages(echo=True))
out['signed_listed'] = ids(listing)
out['signed_get'] = sq.message(out['signed_posted'][0]).id
forged = signed['signature'][:-1] + ('0' if signed['signature'][-1] != '0' else '1')
out['signed_refused'] = {
    'claim': refused(lambda: sq.claim(ttl=60, limit=1)),
    'delete_message': refused(listing[0].delete),
    'delete_queue': refused(sq.delete),
    'stats': refused(lambda: sq.stats),
    'forged_signature': refused(lambda: list(signed_queue(signature=forged).messages())),
    'other_project': refused(lambda: list(signed_queue(os_project_id=args['other_project']).messages())),
    'wider_methods': refused(lambda: signed_queue(methods=['DELETE', 'GET', 'POST']).delete()),
}
print(json.dumps(out))
