"""Agent types, one module each: residents, grid leaders, work teams, departments, platforms.

Agent types with many members (residents, level-3 grid leaders) keep their state in arrays held
by a population object (``Residents``, ``GridLeaders``) and act through vectorised methods; each
member is still a Mesa ``Agent`` whose attributes read from those arrays, so Mesa's tools see
them.
"""

from sim.agents.department import Department, Units
from sim.agents.grid_leader import GridLeader, GridLeaders
from sim.agents.platform import Platform, Platforms
from sim.agents.resident import Resident, Residents
from sim.agents.work_team import WorkTeam, WorkTeams

__all__ = [
    "Department", "GridLeader", "GridLeaders", "Platform", "Platforms", "Resident",
    "Residents", "Units", "WorkTeam", "WorkTeams",
]
