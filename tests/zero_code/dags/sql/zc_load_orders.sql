-- Loads the day's orders; rendered by Airflow (template_searchpath), split into statements by the hook.
DELETE FROM orders WHERE day = '{{ ds }}';
INSERT INTO orders (day, region, amount) VALUES ('{{ ds }}', '{{ params.region }}', {{ params.base }});
INSERT INTO orders (day, region, amount) VALUES ('{{ ds }}', 'us', {{ params.base * 2 }});
INSERT INTO orders (day, region, amount) VALUES ('{{ macros.ds_add(ds, -1) }}', '{{ params.region }}', 1);
