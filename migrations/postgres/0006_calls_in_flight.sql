-- A claim counts the calls other runners hold of its account (ClaimRequest.room in PacerStorage): one probe of the
-- account's in-flight calls.
CREATE INDEX calls_in_flight ON calls(account) WHERE state = 'in_flight';
