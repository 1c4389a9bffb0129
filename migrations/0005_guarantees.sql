-- The guarantees under adversity: tokens held while a request travels, fenced runners, an index for leases.

-- A spend is `open` from the moment its tokens are taken until its call's answer arrives (or the runner that
-- sent it is found dead and its calls are settled). An open spend holds its tokens however old it is: a request
-- still on its way to the provider has not been counted there yet. Once settled, `at` is the later of the
-- dispatch and the answer, and the tokens come back one window after it.
ALTER TABLE limiter_spends ADD COLUMN open INTEGER NOT NULL DEFAULT 0;
-- The runner (or `pacer call`) that spent them: only its own answer settles a spend, and a dead owner's open
-- spends are settled by recovery.
ALTER TABLE limiter_spends ADD COLUMN owner TEXT;
CREATE INDEX limiter_spends_open ON limiter_spends(account) WHERE open = 1;

-- Heartbeats and recovery look up a runner's leased calls every second: without this they scan `calls`.
CREATE INDEX calls_leased ON calls(lease_owner) WHERE state = 'in_flight';
