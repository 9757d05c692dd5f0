"""Social posts: enrichment settings, the social queries, their routes and alert kinds."""
