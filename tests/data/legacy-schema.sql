-- The schema of a lumen.db made by Lumen before migrations (storage.schema's metadata.create_all on SQLite, main at
-- 470518e), as sqlite3's .schema prints it. tests/test_migrations.py upgrades a file made from it.
CREATE TABLE conversations (
	id TEXT NOT NULL,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	messages_json TEXT DEFAULT '[]' NOT NULL,
	state_json TEXT DEFAULT '{}' NOT NULL,
	customer_id TEXT,
	verified_lookups INTEGER DEFAULT 0 NOT NULL,
	escalated BOOLEAN DEFAULT 0 NOT NULL,
	model TEXT,
	message_count INTEGER DEFAULT 0 NOT NULL,
	PRIMARY KEY (id)
);
CREATE INDEX ix_conversations_updated_at ON conversations (updated_at);
CREATE TABLE settings (
	"key" TEXT NOT NULL,
	value_json TEXT NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY ("key")
);
CREATE TABLE escalations (
	id TEXT NOT NULL,
	conversation_id TEXT NOT NULL,
	order_name TEXT,
	order_key TEXT DEFAULT '' NOT NULL,
	reason TEXT NOT NULL,
	summary TEXT NOT NULL,
	shopper_email TEXT,
	transcript TEXT NOT NULL,
	created_at DATETIME NOT NULL,
	email_status TEXT DEFAULT 'pending' NOT NULL,
	attempts INTEGER DEFAULT 0 NOT NULL,
	last_error TEXT,
	sent_at DATETIME,
	last_attempt_at DATETIME,
	next_attempt_at DATETIME,
	PRIMARY KEY (id),
	CONSTRAINT uq_escalations_conversation_order UNIQUE (conversation_id, order_key)
);
CREATE INDEX ix_escalations_status ON escalations (email_status);
CREATE INDEX ix_escalations_created_at ON escalations (created_at);
CREATE TABLE attempts (
	id INTEGER NOT NULL,
	"key" TEXT NOT NULL,
	at DATETIME NOT NULL,
	PRIMARY KEY (id)
);
CREATE INDEX ix_attempts_key_at ON attempts ("key", at);
CREATE TABLE webhook_events (
	event_id TEXT NOT NULL,
	topic TEXT NOT NULL,
	received_at DATETIME NOT NULL,
	PRIMARY KEY (event_id)
);
