"""The two review rounds: the province's preliminary review (初评) and the national re-review (复评)."""
