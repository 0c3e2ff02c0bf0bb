"""Install what the test bed needs from Debian's archive, only if missing."""

import glob
import os
import subprocess

from .common import BUILD, Failure, capture, run, step, LOGS

PACKAGES = [
    'linux-source-6.12', 'build-essential', 'bc', 'flex', 'bison',
    'libelf-dev', 'libssl-dev', 'cpio', 'kmod', 'gcc-aarch64-linux-gnu',
    'qemu-system-x86', 'qemu-system-arm', 'busybox-static', 'sparse',
    'coccinelle', 'ccache', 'python3', 'git', 'xz-utils',
    'libc6-dev-arm64-cross', 'python3-ply', 'python3-git',
    # coccinelle's scripts with OCaml rules (badzero.cocci, ...) need the
    # compiler; Debian's coccinelle package brings only the runtime
    'ocaml',
]

# only 'make bench' needs these: the plot
BENCH_PACKAGES = ['python3-matplotlib', 'gdb']

_updated = False


def _installed(pkg):
    p = subprocess.run(['dpkg-query', '-W', '-f=${Status}', pkg],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       text=True)
    return p.returncode == 0 and 'ok installed' in p.stdout


def _apt_update(log):
    global _updated
    if not _updated:
        run(['apt-get', 'update', '-q'], log=log)
        _updated = True


def ensure_packages(extra=()):
    missing = [p for p in (*PACKAGES, *extra) if not _installed(p)]
    if not missing:
        return
    log = os.path.join(LOGS, 'apt.log')
    with step(f'installing {" ".join(missing)} (log: {log})'):
        if os.geteuid() != 0:
            raise Failure('packages missing and not root: apt-get install '
                          + ' '.join(missing))
        _apt_update(log)
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        run(['apt-get', 'install', '-y', '-q', '--no-install-recommends',
             *missing], log=log, env=env)


def busybox(arch):
    """Path to a static busybox that runs on arch."""
    if arch.busybox_deb == 'busybox-static':
        return '/bin/busybox'
    # A foreign-architecture busybox-static conflicts with the native one,
    # so fetch the .deb and unpack it under build/ instead of installing it.
    debarch = arch.busybox_deb.split(':')[1]
    root = os.path.join(BUILD, f'busybox-{debarch}')
    path = os.path.join(root, 'bin', 'busybox')
    if os.path.exists(path):
        return path
    log = os.path.join(LOGS, 'apt.log')
    with step(f'fetching {arch.busybox_deb} (log: {log})'):
        archs = capture(['dpkg', '--print-foreign-architectures']).split()
        if debarch not in archs:
            run(['dpkg', '--add-architecture', debarch], log=log)
            global _updated
            _updated = False
        dl = os.path.join(BUILD, 'debs')
        os.makedirs(dl, exist_ok=True)
        if run(['apt-get', 'download', arch.busybox_deb], cwd=dl, log=log,
               check=False):
            _apt_update(log)
            run(['apt-get', 'download', arch.busybox_deb], cwd=dl, log=log)
        debs = glob.glob(os.path.join(dl, f'busybox-static_*_{debarch}.deb'))
        if not debs:
            raise Failure(f'no {arch.busybox_deb} package downloaded')
        run(['dpkg-deb', '-x', sorted(debs)[-1], root], log=log)
    return path
