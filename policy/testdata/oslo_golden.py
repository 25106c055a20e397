"""Generates oslo_golden.json: random check strings, what oslo.policy's
parser makes of them and how it evaluates them, for golden_test.go.

Run with the system Python that has oslo.policy installed:
    /usr/bin/python3 testdata/oslo_golden.py > testdata/oslo_golden.json
The creds and targets must match goldenCreds and goldenTargets in
golden_test.go.
"""
import json
import random

from oslo_policy import _checks, _parser

CREDS = [
    {'roles': [], 'is_admin': False},
    {'roles': ['admin'], 'is_admin': True, 'project_id': 'p1', 'user_id': 'u1'},
    {'roles': ['Member', 'reader'], 'is_admin': False, 'project_id': 'p1'},
    {'roles': ['ADMIN'], 'is_admin': False, 'project_id': 'p2', 'user_id': 'q1',
     'system_scope': 'all'},
]
TARGETS = [
    {},
    {'project_id': 'p1', 'queue_name': 'q1'},
    {'project_id': 'p2', 'queue_name': 'q2', 'topic_name': 't1'},
]
REFS = {'r1': 'role:admin', 'r2': 'project_id:%(project_id)s'}

CHECKS = [
    'role:admin', 'role:Member', 'role:reader', 'ROLE:admin', 'role:%(project_id)s',
    'rule:r1', 'rule:r2', 'rule:nope', 'project_id:%(project_id)s',
    'user_id:%(queue_name)s', "'q1':%(queue_name)s", '"t1":%(topic_name)s',
    'True:%(missing)s', 'is_admin:True', 'is_admin:False', 'roles:admin',
    'roles:ADMIN', '@', '!', 'system_scope:all', 'project_id:p1', '1:1',
    'None:None', 'a.b:c', 'user_id:u%(project_id)s', 'role:ad%%min',
]
GARBAGE = ['(', ')', "'str'", 'nocolon', 'http:x', ':x', 'role:%(x', '1abc:x']
OPS = ['and', 'or', 'not', 'AND', 'Or', 'NOT']
SPACE = [' ', ' ', ' ', '  ', '\t', '\n']


class Enforcer:
    rules = {k: _parser.parse_rule(v) for k, v in REFS.items()}


failed = False


def flag(*args, **kwargs):
    global failed
    failed = True


_parser.LOG.exception = flag
_parser.LOG.error = flag


def gen_words(rng, depth):
    r = rng.random()
    if depth > 2 or r < 0.35:
        return [rng.choice(CHECKS)]
    if r < 0.45:
        return [rng.choice(['not', 'NOT', 'Not'])] + gen_words(rng, depth + 1)
    if r < 0.6:
        return ['('] + gen_words(rng, depth + 1) + [')']
    words = gen_words(rng, depth + 1)
    for _ in range(rng.randint(1, 3)):
        words += [rng.choice(['and', 'or', 'AND', 'Or'])] + gen_words(rng, depth + 1)
    return words


def mutate(rng, words):
    i = rng.randrange(len(words) + 1)
    r = rng.random()
    if r < 0.4 and words:
        del words[min(i, len(words) - 1)]
    elif r < 0.8:
        words.insert(i, rng.choice(OPS + ['(', ')']))
    else:
        words.insert(i, rng.choice(GARBAGE))
    return words


def gen(rng):
    words = gen_words(rng, 0)
    if rng.random() < 0.3:
        words = mutate(rng, words)
    out = ''
    for i, w in enumerate(words):
        if i and not (words[i - 1] == '(' and rng.random() < 0.6) and \
                not (w == ')' and rng.random() < 0.6):
            out += rng.choice(SPACE)
        out += w
    return out


def main():
    rng = random.Random(20240601)
    seen = set()
    cases = []
    while len(cases) < 500:
        s = gen(rng)
        if s in seen:
            continue
        seen.add(s)
        global failed
        failed = False
        check = _parser.parse_rule(s)
        case = {'rule': s}
        if failed or not isinstance(check, _checks.BaseCheck):
            case['error'] = True
        else:
            try:
                case['eval'] = ''.join(
                    '1' if _checks._check(check, t, c, Enforcer, None) else '0'
                    for c in CREDS for t in TARGETS)
                case['str'] = str(check)
            except Exception:
                case['error'] = True
        cases.append(case)
    ok = sum(1 for c in cases if 'error' not in c)
    # Keep the parseable ones plentiful: they are the interesting half.
    assert ok > 250, ok
    json.dump(cases, __import__('sys').stdout, indent=0)


main()
