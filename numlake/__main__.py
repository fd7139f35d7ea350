from numlake.cli import console

console()
