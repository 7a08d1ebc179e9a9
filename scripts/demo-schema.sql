-- A small shop catalog for the demo: two schemas, tables with comments and defaults, views, a
-- materialized view, and a read-only crawler role with no access to rows it does not need.
CREATE SCHEMA shop;
COMMENT ON SCHEMA shop IS 'Online shop: customers, products and orders';
CREATE SCHEMA analytics;

CREATE TABLE shop.customers (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email text NOT NULL UNIQUE,
  full_name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE shop.customers IS 'People who bought at least once';
COMMENT ON COLUMN shop.customers.email IS 'Login and contact address (PII)';

CREATE TABLE shop.products (
  sku text PRIMARY KEY,
  title text NOT NULL,
  price_cents integer NOT NULL CHECK (price_cents >= 0),
  tags text[] NOT NULL DEFAULT '{}'
);

CREATE TABLE shop.orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES shop.customers(id),
  status text NOT NULL DEFAULT 'open',
  placed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE shop.order_items (
  order_id bigint NOT NULL REFERENCES shop.orders(id),
  sku text NOT NULL REFERENCES shop.products(sku),
  quantity integer NOT NULL DEFAULT 1,
  PRIMARY KEY (order_id, sku)
);

CREATE TABLE shop."Gift Cards" ("Code" text PRIMARY KEY, "Balance €" numeric(10, 2));

INSERT INTO shop.customers (email, full_name) VALUES ('ada@example.com', 'Ada'), ('alan@example.com', 'Alan');

CREATE VIEW shop.open_orders AS
  SELECT o.id, c.email, o.placed_at FROM shop.orders o JOIN shop.customers c ON c.id = o.customer_id
  WHERE o.status = 'open';
COMMENT ON VIEW shop.open_orders IS 'Orders still awaiting fulfilment';

CREATE MATERIALIZED VIEW analytics.daily_revenue AS
  SELECT date_trunc('day', o.placed_at) AS day, sum(p.price_cents * i.quantity) AS revenue_cents
  FROM shop.orders o JOIN shop.order_items i ON i.order_id = o.id JOIN shop.products p ON p.sku = i.sku
  GROUP BY 1;

CREATE TABLE analytics.events (id bigint, kind text, payload jsonb) ;
