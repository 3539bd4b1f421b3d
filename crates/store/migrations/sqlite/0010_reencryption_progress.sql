-- A job counts its progress itself (counting the tenant's fields at every look cost a scan of
-- them all), and a job reads a tenant's fields in position order, going on from the last one.
ALTER TABLE reencryption_jobs ADD COLUMN fields_done BIGINT NOT NULL DEFAULT 0;
ALTER TABLE reencryption_jobs ADD COLUMN fields_total BIGINT;
