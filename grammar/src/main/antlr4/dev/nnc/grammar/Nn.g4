// The .nn network-description language. docs/language.md documents every
// construct with an example; keep the two in step.
grammar Nn;

file        : decl* EOF ;

decl        : modelDecl
            | blockDecl
            | trainDecl
            ;

// block basic(c, stride=1) (x) { ... return y }
blockDecl   : 'block' name=ID '(' params? ')' '(' inputs=idList ')' '{' stmt* ret=returnStmt '}' ;
params      : param (',' param)* ;
param       : ID ('=' expr)? ;
returnStmt  : 'return' expr (',' expr)* ;

// model M { input x: [3, 32, 32]  h = x -> dense(10)  output h }
modelDecl   : 'model' name=ID '{' stmt* '}' ;

stmt        : inputStmt
            | outputStmt
            | assignStmt
            ;
inputStmt   : 'input' name=ID ':' dtype=ID? shape ;
shape       : '[' (INT (',' INT)*)? ']' ;
outputStmt  : 'output' ID '=' expr            # outputAssign
            | 'output' idList                 # outputNames
            ;
assignStmt  : idList '=' expr ;
idList      : ID (',' ID)* ;

// train M { loss = ...  optimizer = adam(lr=1e-3) ... }
trainDecl   : 'train' name=ID '{' setting* '}' ;
setting     : ID '=' expr ;

// Expressions. '->' binds loosest, so `a + b -> relu` is `(a + b) -> relu`.
expr        : primary                                   # primaryExpr
            | '-' expr                                  # negExpr
            | expr op=('*' | '/') expr                  # mulExpr
            | expr op=('+' | '-') expr                  # addExpr
            | expr '->' stage                           # pipeExpr
            ;

stage       : 'repeat' count=expr '{' stage ('->' stage)* '}'   # repeatStage
            | call                                               # callStage
            | ID                                                 # nameStage
            ;

primary     : NUMBER                                    # numberLit
            | INT                                       # intLit
            | STRING                                    # stringLit
            | 'from' STRING                             # fromLit
            | call                                      # callExpr
            | ID                                        # nameRef
            | '(' expr ')'                              # parenExpr
            | '[' (expr (',' expr)*)? ']'               # listExpr
            ;

call        : ID '(' (arg (',' arg)*)? ')' ;
arg         : (ID '=')? expr ;

INT         : [0-9]+ ;
NUMBER      : [0-9]+ '.' [0-9]* EXP? | '.' [0-9]+ EXP? | [0-9]+ EXP ;
fragment EXP: [eE] [+-]? [0-9]+ ;
STRING      : '"' (~["\\\r\n] | '\\' .)* '"' ;
ID          : [a-zA-Z_] [a-zA-Z_0-9]* ;
LINE_COMMENT: ('//' | '#') ~[\r\n]* -> skip ;
BLOCK_COMMENT: '/*' .*? '*/' -> skip ;
WS          : [ \t\r\n]+ -> skip ;
