"""单位管理: the organisation's units, for administrators. The units page lands here (it is being
written on main while the UI moves into this layout); mount its router in review_ui/app.py."""
