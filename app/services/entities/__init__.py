"""One service per stored entity (users, groups, projects, edges, configs, jobs, and the
data a run records), each checking the acting user's role and returning frozen records
(`records`), never ORM objects."""
