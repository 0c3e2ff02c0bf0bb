# gdb script for 'make profile' (bed/profile.py): attach to a paused VM,
# and for each function in PROF_FUNCS ("name:skip,..."), let it be called
# 'skip' times, then single-step each of its next PROF_CALLS calls to its
# return and record the address of every instruction executed.  The
# addresses go to PROF_OUT as JSON {function: [[pc, ...], ...]}, one list
# per call.  Interrupts stay masked while QEMU single-steps, so only the
# call itself is recorded.
import json
import os

import gdb

gdb.execute('set pagination off')
gdb.execute('set confirm off')
gdb.execute('target remote ' + os.environ['PROF_SOCKET'])
res = {}
calls = int(os.environ.get('PROF_CALLS', '5'))
for item in os.environ['PROF_FUNCS'].split(','):
    name, skip = item.split(':')
    gdb.execute('delete')
    # at the entry itself, before the prologue, so that $sp holds the
    # return address
    gdb.execute('hbreak *' + name, to_string=True)
    for _ in range(int(skip)):
        gdb.execute('continue', to_string=True)
    res[name] = []
    for _ in range(calls):
        gdb.execute('continue', to_string=True)
        sp0 = int(gdb.parse_and_eval('$sp'))
        ret = int(gdb.parse_and_eval('*(unsigned long *)$sp'))
        pcs = []
        while len(pcs) < 1000000:
            pc = int(gdb.parse_and_eval('$pc'))
            if pc == ret and int(gdb.parse_and_eval('$sp')) > sp0:
                break
            pcs.append(pc)
            gdb.execute('stepi', to_string=True)
        res[name].append(pcs)
    gdb.execute('delete')
with open(os.environ['PROF_OUT'], 'w') as f:
    json.dump(res, f)
gdb.execute('detach')
