"""The live-cluster fixtures (real kube-apiserver + etcd) for `kguard audit --compare`."""

from tests.cluster.conftest import control_plane as control_plane  # re-exported session fixtures
from tests.cluster.conftest import kube as kube
