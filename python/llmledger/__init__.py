from ._core import BUCKETS
