-- Request bodies as json text rather than jsonb: jsonb cannot hold a "\u0000" escape or an unpaired
-- surrogate escape ("\ud800"), both valid JSON a prompt may carry. json keeps the text as written,
-- so such a request is stored losslessly and reaches vLLM exactly as the client sent it.
ALTER TABLE batch_requests ALTER COLUMN body TYPE json USING body::json;
