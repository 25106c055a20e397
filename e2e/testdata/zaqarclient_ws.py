"""Drives zaqar-server's WebSocket API with python-zaqarclient's own
WebSocket transport (zaqarclient.transport.ws): create a queue, post,
list, claim, delete. Prints one JSON report on stdout.

usage: zaqarclient_ws.py ws://127.0.0.1:PORT/ PROJECT
"""
import json
import sys

from zaqarclient import transport
from zaqarclient.transport import errors
from zaqarclient.transport import request


def main():
    endpoint, project = sys.argv[1], sys.argv[2]
    conf = {'auth_opts': {'backend': 'noauth',
                          'options': {'os_auth_token': 'noauth',
                                      'os_project_id': project}}}
    report = {}
    with transport.get_transport_for(endpoint, options=conf) as ws:
        def call(action, **body):
            req = request.Request(endpoint, action, content=json.dumps(body))
            resp = ws.send(req)
            return resp.status_code, json.loads(resp.content)

        report['create'] = call('queue_create', queue_name='pyq')
        report['post'] = call('message_post', queue_name='pyq', messages=[
            {'body': {'event': 'one'}, 'ttl': 300},
            {'body': {'event': 'two'}, 'ttl': 300}])
        report['list'] = call('message_list', queue_name='pyq', echo=True)
        report['claim'] = call('claim_create', queue_name='pyq', limit=1,
                               ttl=60, grace=60)
        claim = report['claim'][1]
        mid = claim['messages'][0]['id']
        report['delete_claimed'] = call('message_delete', queue_name='pyq',
                                        message_id=mid,
                                        claim_id=claim['claim_id'])
        report['stats'] = call('queue_get_stats', queue_name='pyq')
        try:
            call('queue_get_stats', queue_name='missing')
            report['missing'] = 'no error'
        except errors.ResourceNotFound as e:
            report['missing'] = 'ResourceNotFound: ' + str(e)
        report['delete'] = call('queue_delete', queue_name='pyq')
    print(json.dumps(report))


if __name__ == '__main__':
    main()
