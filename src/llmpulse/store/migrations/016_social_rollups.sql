-- Hourly sums of posts for the Social page's long ranges (social/queries.py reads whole
-- hours here and the partial hours at a range's edges from social_posts). Each post counts
-- in the row of entity '' (every post) and in one row per tracked entity it mentions, so
-- an entity filter is a key. Sums only: means are sums over counts at read time.
CREATE TABLE IF NOT EXISTS social_rollup_1h
(
    project LowCardinality(String),
    hour DateTime('UTC'),
    entity LowCardinality(String),
    platform LowCardinality(String),
    lang LowCardinality(String),
    posts SimpleAggregateFunction(sum, UInt64),
    positive SimpleAggregateFunction(sum, UInt64),
    neutral SimpleAggregateFunction(sum, UInt64),
    negative SimpleAggregateFunction(sum, UInt64),
    sentiment_sum SimpleAggregateFunction(sum, Float64),
    weighted_sum SimpleAggregateFunction(sum, Float64),
    engagement_sum SimpleAggregateFunction(sum, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (project, hour, entity, platform, lang)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS social_rollup_1h_mv TO social_rollup_1h AS
SELECT
    project,
    toStartOfHour(ts) AS hour,
    entity,
    platform,
    lang,
    count() AS posts,
    countIf(sentiment_label = 'positive') AS positive,
    countIf(sentiment_label = 'neutral') AS neutral,
    countIf(sentiment_label = 'negative') AS negative,
    sum(toFloat64(sentiment)) AS sentiment_sum,
    sum(toFloat64(sentiment) * engagement) AS weighted_sum,
    sum(engagement) AS engagement_sum
FROM social_posts
ARRAY JOIN arrayConcat([''], entities) AS entity
GROUP BY project, hour, entity, platform, lang;

-- Hourly sums per tag (kind: hashtag, cashtag, mention), with the entity key as above.
CREATE TABLE IF NOT EXISTS social_tags_1h
(
    project LowCardinality(String),
    hour DateTime('UTC'),
    kind LowCardinality(String),
    entity LowCardinality(String),
    tag String,
    platform LowCardinality(String),
    lang LowCardinality(String),
    posts SimpleAggregateFunction(sum, UInt64),
    engagement_sum SimpleAggregateFunction(sum, Float64),
    sentiment_sum SimpleAggregateFunction(sum, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (project, hour, kind, entity, tag, platform, lang)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS social_tags_1h_mv TO social_tags_1h AS
SELECT
    project,
    toStartOfHour(ts) AS hour,
    kind_tag.1 AS kind,
    entity,
    kind_tag.2 AS tag,
    platform,
    lang,
    count() AS posts,
    sum(engagement) AS engagement_sum,
    sum(toFloat64(sentiment)) AS sentiment_sum
FROM social_posts
ARRAY JOIN arrayConcat(
    arrayMap(t -> ('hashtags', t), hashtags),
    arrayMap(t -> ('cashtags', t), cashtags),
    arrayMap(t -> ('mentions', t), mentions)
) AS kind_tag
ARRAY JOIN arrayConcat([''], entities) AS entity
GROUP BY project, hour, kind, entity, tag, platform, lang;

-- Posts stored before these views existed.
INSERT INTO social_rollup_1h
SELECT project, toStartOfHour(ts) AS hour, entity, platform, lang, count(),
    countIf(sentiment_label = 'positive'), countIf(sentiment_label = 'neutral'),
    countIf(sentiment_label = 'negative'), sum(toFloat64(sentiment)),
    sum(toFloat64(sentiment) * engagement), sum(engagement)
FROM social_posts ARRAY JOIN arrayConcat([''], entities) AS entity
GROUP BY project, hour, entity, platform, lang;

INSERT INTO social_tags_1h
SELECT project, toStartOfHour(ts) AS hour, kind_tag.1, entity, kind_tag.2, platform, lang,
    count(), sum(engagement), sum(toFloat64(sentiment))
FROM social_posts
ARRAY JOIN arrayConcat(
    arrayMap(t -> ('hashtags', t), hashtags),
    arrayMap(t -> ('cashtags', t), cashtags),
    arrayMap(t -> ('mentions', t), mentions)
) AS kind_tag
ARRAY JOIN arrayConcat([''], entities) AS entity
GROUP BY project, hour, kind_tag.1, entity, kind_tag.2, platform, lang
