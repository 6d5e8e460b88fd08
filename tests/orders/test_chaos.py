"""Chaos, both ways: N orders signed while Celery workers are SIGKILLed at random, the HL7 listener is SIGKILLed and
started again, Redis restarts once, and the lab answers some orders with AR ("busy") or not at all. Every order must
reach the lab exactly once (one control id per order number, whatever was re-sent) and every result (preliminary
and final) must be filed exactly once (whatever the lab re-sent after losing our ACK).

N: $ORDERS_CHAOS_N, by default 200 on a developer's machine and 40 in CI (CI=true), to keep the suite's time modest.
"""

import os
import random
import threading
import time
from collections import Counter

import pytest

from tests.factories import PASSWORD
from tests.prescriptions.test_chaos import Workers, _redis_restart

from .conftest import Listener, start_lab_sim

N = int(os.environ.get("ORDERS_CHAOS_N", "40" if os.environ.get("CI") else "200"))


@pytest.mark.slow
@pytest.mark.worker
def test_chaos_orders_once_results_once(
    transactional_db, clinician, patient, catalogue, lab, icd10, settings
):
    from encounters.models import Observation
    from orders import outbox, services
    from orders.models import InboundMessage, Order, OrderStatus, ResultReport

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    listener = Listener()
    sim = start_lab_sim(listener.port)
    lab.host, lab.port = "127.0.0.1", sim.mllp_port
    lab.save(update_fields=["host", "port"])
    sim.mode(nak_rate=0.1, silent_rate=0.05, abnormal_rate=0.0, prelim_delay=0.2, final_delay=0.5, seed=7)
    rng = random.Random(int(os.environ.get("CHAOS_SEED", "42")))
    workers = Workers(2)
    kills = listener_kills = restarts = 0
    stop = threading.Event()

    def chaos():
        nonlocal kills, listener_kills
        while not stop.wait(rng.uniform(0.7, 2.0)):
            workers.kill_one(rng)
            kills += 1
            if rng.random() < 0.4:
                listener.kill()
                listener_kills += 1
                time.sleep(rng.uniform(0.2, 1.0))  # the lab's results wait, unacknowledged
                listener.start()

    chaos_thread = threading.Thread(target=chaos, daemon=True)
    started = time.monotonic()
    try:
        chaos_thread.start()
        for i in range(N):
            if i == N // 2:
                _redis_restart()
                restarts += 1
            services.order_sign(
                actor=clinician,
                patient_id=patient.pk,
                test_id=catalogue["51990-0"].pk,
                lab_id=lab.pk,
                diagnoses=["E11.9"],
                priority="routine",
                answers={"FAST": "No"},
                password=PASSWORD,
            )
        time.sleep(3)
        stop.set()
        chaos_thread.join()
        if listener.proc.poll() is not None:
            listener.start()
        # What the beat's requeue_stuck does every 30 s, run here more often so the test stays short.
        deadline = time.monotonic() + 60 + N * 1.5
        while time.monotonic() < deadline:
            done = ResultReport.objects.filter(status="final").count()
            stuck = Order.objects.filter(status=OrderStatus.NEEDS_ATTENTION).count()
            if done + stuck >= N and sim.stats()["results_pending"] == 0:
                break
            outbox.outbound_requeue_stuck(older_than_seconds=8)
            time.sleep(2)
    finally:
        stop.set()
        workers.stop()
        listener.stop()
        stats = sim.stats()
        sim.stop()

    orders = list(Order.objects.values_list("placer_number", "status", "status_reason"))
    seen = Counter(stats["placer_numbers"])
    reports = Counter(ResultReport.objects.values_list("order__placer_number", "status"))
    statuses = Counter(s for _, s, _ in orders)
    inbound = Counter(InboundMessage.objects.values_list("status", flat=True))
    print(
        f"\nORDERS CHAOS N={N} worker_kills={kills} listener_kills={listener_kills} redis_restarts={restarts} "
        f"orders={dict(statuses)} lab_unique={stats['unique_received']} lab_duplicates={stats['duplicate_deliveries']} "
        f"simulated={stats['simulated_failures']} inbound={dict(inbound)} elapsed={time.monotonic() - started:.0f}s"
    )
    assert len(orders) == N
    # A preliminary re-sent after its final never takes the final's place.
    assert set(statuses) <= {OrderStatus.FINAL, OrderStatus.NEEDS_ATTENTION}, statuses
    attention = [reason for _, s, reason in orders if s == OrderStatus.NEEDS_ATTENTION]
    assert all(attention), "every order that needs attention says why"
    assert len(attention) <= N // 20, attention  # only an unlucky run of refusals may exhaust the retries
    # Orders out: each order number reached the lab under exactly one control id, none lost.
    assert [n for n, c in seen.items() if c > 1] == []
    assert set(seen) == {n for n, s, _ in orders if s != OrderStatus.NEEDS_ATTENTION}
    # Results in: one preliminary and one final per delivered order, each filed once.
    for number in seen:
        assert reports[(number, "preliminary")] == 1, number
        assert reports[(number, "final")] == 1, number
    assert inbound["filed"] == 2 * len(seen)
    # Every BMP value filed once: 4 preliminary and 8 final per order.
    assert Observation.objects.filter(patient=patient).count() == 12 * len(seen)
    assert ResultReport.objects.filter(status="final", superseded_by__isnull=False).count() == 0
    assert stats["results_pending"] == 0
    assert kills > 0 and listener_kills > 0 and restarts == 1
