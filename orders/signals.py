"""What orders tells the rest of the product (the clinical inbox listens). Sent after the filing commits.

- ``result_filed``: kwargs ``report`` (orders.ResultReport), ``order`` (or None: unsolicited / in-office),
  ``patient``, ``ordering_clinician`` (a user or None), ``is_critical``, ``is_abnormal``.
- ``result_reviewed``: kwargs ``report``, ``actor`` (who signed it off), ``comment``: the result was seen and signed
  off (its inbox item is done).
- ``unmatched_result_received``: kwargs ``message`` (orders.InboundMessage in status unmatched), ``reason``.
"""

from django.dispatch import Signal

result_filed = Signal()
unmatched_result_received = Signal()
result_reviewed = Signal()
