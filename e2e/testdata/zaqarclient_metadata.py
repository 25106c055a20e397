"""python-zaqarclient's queue metadata flow, as Zaqar's functional tests
drive it: create a queue, set its metadata, read it back, replace it, read
it again. Prints one JSON report on stdout.

usage: zaqarclient_metadata.py http://127.0.0.1:PORT PROJECT
"""
import json
import sys

from zaqarclient.queues import client


def main():
    url, project = sys.argv[1], sys.argv[2]
    c = client.Client(url, version=2, conf={
        'auth_opts': {'backend': 'noauth', 'options': {'os_project_id': project}}})
    q = c.queue('pymeta', force_create=True)
    report = {
        'set': q.metadata(new_meta={'color': 'blue', 'n': 1}),
        'read': q.metadata(force_reload=True),
        'replace': q.metadata(new_meta={'n': 2}),
        'reread': q.metadata(force_reload=True),
    }
    q.delete()
    json.dump(report, sys.stdout, sort_keys=True)


if __name__ == '__main__':
    main()
