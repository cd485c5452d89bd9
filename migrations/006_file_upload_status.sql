-- Uploads are written part by part outside any long transaction, so a file row exists while its
-- content is still arriving: `uploading` rows are invisible to every read and become `processed`
-- (OpenAI's status for a usable file) in the statement that completes them.
ALTER TABLE files ALTER COLUMN status SET DEFAULT 'uploading';
ALTER TABLE files ADD CONSTRAINT files_status_check CHECK (status IN ('uploading', 'processed'));
CREATE INDEX files_uploading ON files (created_at) WHERE status = 'uploading';
